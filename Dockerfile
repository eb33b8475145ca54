# One image for the api, the worker and the agent; docker-compose.yml picks the command.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN PRISMA_SCHEMA_ENGINE_BINARY=/usr/local/bin/node PRISMA_QUERY_ENGINE_LIBRARY=/usr/local/bin/node npx prisma generate
EXPOSE 3000
CMD ["npx", "tsx", "api/main.ts"]
