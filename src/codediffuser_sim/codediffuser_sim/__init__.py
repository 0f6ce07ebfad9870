"""SAPIEN ALOHA simulation: three tasks with ambiguity levels, scripted demos, datasets, evaluation."""
