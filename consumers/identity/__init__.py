"""Who a person is in the store: a keyed hash of their normalised contact, shared by the pipeline and the rights office."""
