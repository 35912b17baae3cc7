"""Request and response models of the REST API, one module per resource; the constraints
the store needs (no NUL, lengths, date and id ranges) live in `base`."""
