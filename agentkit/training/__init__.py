"""What the recipes share: turning trajectories into training examples, building trainers, checkpoints."""
