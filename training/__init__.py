"""Teaching the generator from the store: RAFT-style examples, QLoRA training, answer evaluation."""
