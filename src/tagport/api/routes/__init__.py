"""One router module per noun, beside the service of the same name."""
