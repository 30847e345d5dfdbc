"""cosell.webhooks"""
