"""What every actor process has: its settings, the collector pause around bulk work, its memory
and measures for status, and sends whose end is known (`transmit`)."""
