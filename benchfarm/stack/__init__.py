"""The embedded one-host farm: installs and starts the real services on this machine."""
