"""The load simulator."""
