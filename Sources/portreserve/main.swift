print("usage: portreserve")
