"""What the tests share: helpers, launched systems, apps and child processes."""
