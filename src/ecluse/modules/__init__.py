"""Built-in modules, one file each; they register through the ``ecluse.modules`` entry points."""
