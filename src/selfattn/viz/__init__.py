"""Pictures of what the models do: attention maps, positional encodings, cost curves."""
