pytest_plugins = ["tests.fixtures.seaweed", "tests.fixtures.platform", "tests.fixtures.tfserving"]
