// Bad-input catalogue (written separately).
