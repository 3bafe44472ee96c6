"""Applications of wavelayers: one sub-package per integration (imports wavelayers, never the reverse)."""
