// Bench placeholder
