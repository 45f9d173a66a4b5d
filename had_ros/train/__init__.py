"""Training and distillation (`had train`, `had distill`, `had pairs`)."""
