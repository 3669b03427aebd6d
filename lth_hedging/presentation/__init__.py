"""What a reader sees: rounded tables, computed sentences, figures, published numbers.
Imports ``studies`` and below; nothing here computes a result."""
