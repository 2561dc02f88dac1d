"""One module per service of the one-host farm."""
