"""Red-team review: the lead's side of a Label Studio review of red-team attacks."""
