"""benchfarm.scheduler"""
