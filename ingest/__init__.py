"""haybale package."""
