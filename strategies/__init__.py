"""Built-in strategies, loadable by name from YAML."""
