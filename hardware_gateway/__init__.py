"""On-site hardware gateway: talks MQTT to devices and the server, never imports `server`."""
