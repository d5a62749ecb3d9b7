"""Rule families of the policy engine, one module each, registered in ``engine.evaluate``."""
