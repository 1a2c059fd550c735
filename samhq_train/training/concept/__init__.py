"""Fine-tuning SAM 3's concept detector (text prompts -> instances) with Meta's detection loss."""
