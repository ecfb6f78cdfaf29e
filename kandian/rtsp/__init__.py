"""rtsp"""
