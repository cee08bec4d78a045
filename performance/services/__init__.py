"""Every write that touches more than one row, and every side effect, of the performance app."""
