"""cosell.store"""
