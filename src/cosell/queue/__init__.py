"""cosell.queue"""
