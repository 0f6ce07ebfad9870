"""Built-in tasks; importing this package registers them with `codediffuser_sim.env.register_task`."""

from codediffuser_sim.tasks import hang_mug, pack_battery, stow_books

__all__ = ["hang_mug", "pack_battery", "stow_books"]
