"""lsswm.eval"""
