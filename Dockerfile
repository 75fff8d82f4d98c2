# Image for the web, worker and beat services of docker-compose.yml.
FROM python:3.11-slim
# DEBUG is off unless a deployment turns it on: an image run without compose must not show debug pages.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DEBUG=0
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DEBUG=0 SECRET_KEY=build-only EMAIL_CONSOLE_OPT_IN=1 python manage.py collectstatic --no-input
EXPOSE 8000
