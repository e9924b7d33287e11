"""Sample: choose what people should label next, and route confident items past them."""
