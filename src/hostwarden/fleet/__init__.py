"""Many hosts, one core: the hub acts on this host and on agents' hosts through one protocol."""
