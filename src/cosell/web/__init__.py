"""cosell.web"""
