-- Fusion calibration now picks the smallest lexical weight within 0.01 of the best (chatbot/fusion_calibration.py)
-- and scores a lead-blended vector arm: every collection is calibrated again at its next ingest or `ragbot
-- calibrate`; its current weight applies until then.
UPDATE collections SET calibrated_chunks = NULL;
