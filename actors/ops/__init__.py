"""The operator's tools: `bin/encore` (`cli`) and its live console (`top`)."""
