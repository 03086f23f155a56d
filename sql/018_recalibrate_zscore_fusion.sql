-- Fusion calibration now z-scores both arms and keeps the weight nearest 0.3 among those within 0.01 of the
-- titles' best (chatbot/fusion_calibration.py, RULE = "zscore-prior"); the retriever fuses with the method the
-- calibration recorded. Every collection is calibrated again at its next ingest or `ragbot calibrate`; until
-- then its min-max weight and method apply.
UPDATE collections SET calibrated_chunks = NULL;
