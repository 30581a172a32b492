print("usage: portrelease NAME...")
