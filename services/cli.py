"""Command-line entry point (filled in below)."""
import typer

app = typer.Typer()
