"""What runs the box on site: configuration, activation, opening test, modem, service unit, runner."""
