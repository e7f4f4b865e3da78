"""Cross-cutting HTTP concerns, one module each; ``localcore.app`` wires them in one readable place."""
