"""Use-cases: the only place where the store, the engine and authentication meet."""
