"""benchfarm.inventory"""
