"""Transport-free access control: it decides, the front ends translate, the store remembers."""
