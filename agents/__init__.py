"""lsswm.agents"""
