"""Operating-system helpers any stage may use: process groups, loopback addresses, the one-daemon lock."""
