"""Product insight (activity B2): the product team's part of the store, pseudonymous only."""
