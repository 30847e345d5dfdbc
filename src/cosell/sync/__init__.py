"""cosell.sync"""
