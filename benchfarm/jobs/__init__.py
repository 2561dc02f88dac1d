"""Jobs: the durable job record, its events, and the repository that stores them."""
